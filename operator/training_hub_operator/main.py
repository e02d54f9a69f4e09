"""``training-hub-operator``: run the kopf operator for TrainingRuns.

Examples::

    training-hub-operator --all-namespaces
    training-hub-operator -n team-a -n team-b --metrics-port 9090 --liveness-port 8080
    training-hub-operator --all-namespaces --peering training-hub   # HA: needs kopf's peering CRDs
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import replace

from training_hub_operator.settings import OperatorSettings


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="training-hub-operator", description="Kubernetes operator for TrainingRuns."
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    p.add_argument(
        "--peering",
        metavar="NAME",
        help="coordinate with other replicas through kopf peering NAME (default: standalone, one replica)",
    )
    p.add_argument("--priority", type=int, default=0, help="peering priority of this replica")
    p.add_argument("--liveness-host", default="0.0.0.0", help="liveness endpoint address")
    p.add_argument(
        "--liveness-port", type=int, default=8080, help="liveness endpoint port (/healthz; 0: off)"
    )
    p.add_argument("--metrics-host", default="0.0.0.0", help="Prometheus endpoint address")
    p.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus endpoint port (/metrics; 0: off)"
    )
    p.add_argument(
        "--default-image", help="runtime image when a run sets none (env TRAINING_HUB_DEFAULT_IMAGE)"
    )
    p.add_argument(
        "--default-gpu-memory", help="GPU memory the planner assumes when a run says nothing, e.g. 80Gi"
    )
    p.add_argument(
        "--no-config-fetch", action="store_true", help="never fetch config.json from the Hugging Face Hub"
    )
    p.add_argument("--no-planning-pods", action="store_true", help="never run planning pods")
    p.add_argument(
        "--resync-seconds",
        type=float,
        help="period of the resync of runs that need it: unknown, changed or a timer due (default 60)",
    )
    p.add_argument(
        "--full-resync-seconds",
        type=float,
        help="period of the full resync: also the runs whose children or pods changed, read in bulk (default 600)",
    )
    p.add_argument(
        "--planning-budget-seconds",
        type=float,
        help="time budget of planning one run, 0: none (default 10; env TRAINING_HUB_PLANNING_BUDGET_SECONDS)",
    )
    p.add_argument(
        "--log-format", choices=["json", "plain"], default="json", help="log format (default json)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def settings_from_args(args: argparse.Namespace) -> OperatorSettings:
    """Operator settings: environment first, flags override."""
    s = OperatorSettings.from_env()
    if args.default_image:
        s = replace(s, default_image=args.default_image)
    if args.default_gpu_memory:
        s = replace(s, default_gpu_memory=args.default_gpu_memory)
    if args.no_config_fetch:
        s = replace(s, allow_config_fetch=False)
    if args.no_planning_pods:
        s = replace(s, planning_pods=False)
    if args.resync_seconds:
        s = replace(s, resync_seconds=args.resync_seconds)
    if args.full_resync_seconds:
        s = replace(s, full_resync_seconds=args.full_resync_seconds)
    if args.planning_budget_seconds is not None:
        s = replace(s, planning_budget_seconds=args.planning_budget_seconds)
    return s


def main(argv: list[str] | None = None) -> int:
    """Parse flags, configure logging and metrics, run kopf until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    import kopf

    from training_hub_operator import handlers, kopf_memories, malloc_trim, metrics

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("training_hub_operator").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    settings = settings_from_args(args)
    handlers.configure(settings, args.namespace)
    metrics.serve(args.metrics_port, args.metrics_host)
    malloc_trim.start(threading.Event())  # for the life of the process
    liveness = f"http://{args.liveness_host}:{args.liveness_port}/healthz" if args.liveness_port else None
    log = logging.getLogger("training_hub_operator")
    failures: list[float] = []
    while True:
        started = time.monotonic()
        try:
            kopf.run(
                standalone=args.peering is None,
                peering_name=args.peering,
                priority=args.priority,
                namespaces=list(args.namespace),
                clusterwide=not args.namespace,
                liveness_endpoint=liveness,
                # No per-object record kept: only watch-event handlers (~1.1 KiB per object otherwise).
                memories=kopf_memories.memories(kopf.get_default_registry()),
            )
            return 0
        except Exception as exc:  # a watch-stream failure stops kopf (e.g. 404 right after an API restart)
            _stop_resync(handlers)
            now = time.monotonic()
            failures = [t for t in failures if now - t < RESTART_WINDOW_SECONDS] + [now]
            if len(failures) > MAX_RESTARTS:
                log.error(
                    "kopf failed %d times in %ds; exiting: %s", len(failures), RESTART_WINDOW_SECONDS, exc
                )
                return 1
            delay = min(30.0, 2.0 ** len(failures))
            log.error(
                "kopf stopped after %.0fs: %s: %s; restarting it in %.0fs (the runs are adopted, nothing is lost)",
                now - started,
                type(exc).__name__,
                exc,
                delay,
            )
            time.sleep(delay)


#: In-process restarts of kopf after a failure (a watch that got 404/403/5xx, e.g. a CRD not served yet
#: right after an API server restart) within :data:`RESTART_WINDOW_SECONDS`, before exiting with 1 and
#: leaving it to the Deployment.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 600


def _stop_resync(handlers: object) -> None:
    """Stop the previous run's resync thread before kopf starts a new one."""
    state = getattr(handlers, "_state", {})
    state["stop"].set()
    thread = state.get("thread")
    if thread is not None:
        thread.join(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
