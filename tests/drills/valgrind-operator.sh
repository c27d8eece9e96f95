#!/bin/sh
# The operator under valgrind (memcheck), for `make drills-valgrind`: one log
# per process in $APPDB_VALGRIND_DIR, read by valgrind_summary.py.
exec valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	--track-origins=no --num-callers=30 --log-file="$APPDB_VALGRIND_DIR/vg.%p.log" \
	"$APPDB_VALGRIND_BIN" "$@"
