/*
 * fuzz_manifest.c - libFuzzer target for the manifest path: YAML documents
 * into JSON (yamljson), decoded (model) and validated (validate), as
 * `reconcile -f` reads them. Also run over the corpus by `make test-engine`.
 */
#include "model.h"
#include "validate.h"
#include "yamljson.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yaml_docs docs;
	struct err err = {0};
	size_t i;

	if (yamljson_parse(&docs, (const char *)data, size, "fuzz.yaml", &err) != 0)
		return 0;
	for (i = 0; i < docs.n; i++) {
		struct field_errs errs = {0};
		struct appdb *db = NULL;
		char *joined;
		int line, col;

		if (appdb_from_json(&db, docs.docs[i], &errs) == 0)
			validate_appdb(db, "appdb_admin", &errs);
		joined = field_errs_join(&errs);
		free(joined);
		yaml_pos(&docs, docs.docs[i], &line, &col);
		field_errs_clear(&errs);
		appdb_free(db);
	}
	yaml_docs_clear(&docs);
	return 0;
}
