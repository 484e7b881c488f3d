from refscope.cli import main

main()
