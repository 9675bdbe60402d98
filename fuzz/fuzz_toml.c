/* libFuzzer target for the TOML reader and the configuration loader on top
   of it: arbitrary bytes through config_load_string() (non-strict), then
   everything freed. Under gcc it is linked with replay-main.c and replays
   fuzz/corpus/toml/ as an ordinary test. */
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	struct buf diag;

	buf_init(&diag, 64 * 1024);
	if (config_load_string("fuzz.toml", (const char *)data, size, false, &cfg, &diag) == 0)
		config_free(&cfg);
	buf_free(&diag);
	return 0;
}
