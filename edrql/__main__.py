from edrql.fastexit import main

main()
