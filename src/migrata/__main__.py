from migrata.cli import main

main()
