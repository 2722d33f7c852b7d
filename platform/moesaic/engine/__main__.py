"""`python -m moesaic.engine serve --model DIR ...`"""

import sys

from moesaic.engine.server import main

main(sys.argv[1:])
