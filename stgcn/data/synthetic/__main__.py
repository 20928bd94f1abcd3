"""``python -m stgcn.data.synthetic``: see :mod:`stgcn.data.synthetic.cli`."""

from stgcn.data.synthetic.cli import main

if __name__ == "__main__":
    main()
