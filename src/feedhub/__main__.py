from feedhub.cli import main

main()
