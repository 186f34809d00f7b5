"""python3 -m driver: what sh run.sh runs."""

from driver.cli import main

raise SystemExit(main())
