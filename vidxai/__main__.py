"""``python -m vidxai`` (also what ``torchrun -m vidxai run ...`` starts on every rank)."""
import sys

from .cli import main

sys.exit(main())
