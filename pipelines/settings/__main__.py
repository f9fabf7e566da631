"""`python -m pipelines.settings --reference > docs/CONFIG.md`: write the settings reference."""

from pipelines.settings.reference import main

if __name__ == "__main__":
    raise SystemExit(main())
