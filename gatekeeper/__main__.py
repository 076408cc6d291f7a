from gatekeeper.cli.main import main

raise SystemExit(main())
