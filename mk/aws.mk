# AWS: Secrets Manager, the credential chain and RDS IAM tokens, tested
# against the fake AWS endpoint in tests/fakeaws (Python 3 stdlib), a driver
# of the client (awsprobe) and, when the engine is there, the CLI against a
# throwaway PostgreSQL. Fuzz targets for the STS and error-body readers live
# in tests/fuzz (libFuzzer, clang).
#
#   make test-aws              the suite; ends with "aws: N passed, M failed"
#   make fuzz-aws FUZZ_SECONDS=60   fuzz each target for a while

TEST_SUITES += aws

AWS_PROBE := $(BUILD)/aws/awsprobe
FUZZ_SECONDS ?= 60

$(AWS_PROBE): tests/aws/awsprobe.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LDLIBS)

.PHONY: test-aws fuzz-aws
test-aws: $(BIN) $(AWS_PROBE)
	@AWS_PROBE=$(abspath $(AWS_PROBE)) python3 tests/aws/run.py

fuzz-aws:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz

fuzz: fuzz-aws
