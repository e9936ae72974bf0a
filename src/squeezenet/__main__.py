from squeezenet.cli import main

main()
