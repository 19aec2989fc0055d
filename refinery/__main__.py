from refinery.cli import main

main()
