from edrql.cli import main

raise SystemExit(main())
