"""A real Kubernetes 1.20 control plane (etcd, kube-apiserver, kube-controller-manager) for tests."""
