import sys

from kapps.cli import main

if __name__ == "__main__":
    sys.exit(main())
