from kiosk.i18n.tools import main

raise SystemExit(main())
