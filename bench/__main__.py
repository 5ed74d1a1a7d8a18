"""`python -m bench [name ...]`: runs the benchmarks (all by default) and prints figures."""
import importlib
import sys

BENCHMARKS = ["bench_collect"]


def main(argv):
    for name in argv or BENCHMARKS:
        print("== %s" % name, flush=True)
        importlib.import_module("bench." + name).main()


if __name__ == "__main__":
    main(sys.argv[1:])
