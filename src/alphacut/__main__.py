from alphacut.cli.main import main

main()
