from services.registry.seed.summary import main

raise SystemExit(main())
