import sys

from rfpipe.cli import main

sys.exit(main())
