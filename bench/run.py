"""`make bench`: run every benchmark (or the named ones) and write bench/results.json."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import main

if __name__ == "__main__":
    main()
