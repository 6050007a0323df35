import sys

from evaluate.cli import main

sys.exit(main())
