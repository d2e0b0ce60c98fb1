# hl7bus: the two commands of the README, and their parts.
#   make run   set up; start Kafka, the schema registry, the MLLP connector, the timeline
#              service and the web front door on loopback; play the sample feed and show what
#              landed, a patient's timeline through the API, and a token and a curl line for it
#   make test  set up, run every test but the corpus's, on the project's own messages;
#              needs nothing beside the clone (starts the local stack when none is given)
#   make test-corpus  the acceptance suite: the tests marked `corpus`, over the public
#              HL7 corpus read in place from ../shared/corpus (HL7BUS_CORPUS overrides);
#              fails at once, in one sentence, when the corpus is not there

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

# The dashboard's charting library, uPlot (MIT), from the npm registry with `npm pack`,
# checked against the digest of the tested version, into the web service's static folder
# (git-ignored).  Without npm the dashboard shows its figures without charts.
UPLOT_VERSION = 1.6.32
UPLOT_SHA256  = 4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
UPLOT_DIR     = services/web/static/vendor
UPLOT         = $(UPLOT_DIR)/.uplot-$(UPLOT_VERSION)

.PHONY: run test test-corpus unit setup stack down status clean

run: setup
	$(BIN)/hl7bus run

test: setup
	$(BIN)/pytest -m "not corpus"

test-corpus: setup
	$(BIN)/pytest -m corpus

unit: setup
	$(BIN)/pytest -m "not integration and not corpus"

setup: $(STAMP) $(UPLOT)

$(UPLOT):
	@if command -v npm >/dev/null 2>&1; then \
		set -e; tmp=$$(mktemp -d); \
		(cd "$$tmp" && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null); \
		echo "$(UPLOT_SHA256)  $$tmp/uplot-$(UPLOT_VERSION).tgz" | sha256sum --check --quiet -; \
		tar -xzf "$$tmp/uplot-$(UPLOT_VERSION).tgz" -C "$$tmp"; \
		mkdir -p $(UPLOT_DIR); \
		cp "$$tmp/package/dist/uPlot.iife.min.js" "$$tmp/package/dist/uPlot.min.css" $(UPLOT_DIR)/; \
		cp "$$tmp/package/LICENSE" $(UPLOT_DIR)/uPlot.LICENSE; \
		rm -rf "$$tmp"; touch $@; \
		echo "uPlot $(UPLOT_VERSION) installed in $(UPLOT_DIR) for the dashboard's charts"; \
	else \
		echo "npm is not installed: the dashboard will show its figures without charts (install npm, then make setup)"; \
	fi

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,devstack]'
	touch $(STAMP)

stack: setup
	$(BIN)/hl7bus dev up

down:
	$(BIN)/hl7bus dev down

status:
	$(BIN)/hl7bus dev status


clean:
	rm -rf $(VENV) build *.egg-info $(UPLOT_DIR)
