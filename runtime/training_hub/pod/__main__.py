"""``python -m training_hub.pod --spec PATH``: the pod entrypoint without the console script."""

import sys

from training_hub.pod.entrypoint import main

sys.exit(main())
