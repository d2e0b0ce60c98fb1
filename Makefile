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

.PHONY: run test test-corpus unit setup stack down status clean

run: setup
	$(BIN)/hl7bus dev up
	$(BIN)/hl7bus demo

test: setup
	$(BIN)/pytest -m "not corpus"

test-corpus: setup
	$(BIN)/pytest -m corpus

unit: setup
	$(BIN)/pytest -m "not integration and not corpus"

setup: $(STAMP)

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
	rm -rf $(VENV) build *.egg-info
