/* COMPRESS DEFLATE (RFC 4978). After login only, so that a client cannot
   make us spend zlib memory (about 300 KB) before it authenticated. The
   tagged OK goes out uncompressed; from the next byte on both directions
   are raw DEFLATE (net/xprt-deflate.c), inside TLS when TLS is on. */
#include "../lib/util.h"
#include "imap-commands.h"

enum cmd_ret imap_cmd_compress(struct imap_cmd *cmd)
{
	struct imap_client *ic = cmd->client;

	if (cmd->args->count != 1 || cmd->args->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "COMPRESS expects a mechanism");
	if (!slice_eq_ci(cmd->args->args[0].str, "DEFLATE"))
		return imap_cmd_bad(cmd, "Unknown compression mechanism");
	if (conn_is_compressed(ic->conn))
		return imap_cmd_no(cmd, "[COMPRESSIONACTIVE] DEFLATE active already");
	imap_cmd_ok(cmd, "DEFLATE active");
	if (conn_start_deflate(ic->conn) < 0) {
		/* the OK is queued: nothing sensible can follow it */
		conn_close(ic->conn, "compress failed");
		return CMD_DONE;
	}
	log_debug(conn_log(ic->conn), "imap.compress", "mechanism=DEFLATE");
	return CMD_DONE;
}
