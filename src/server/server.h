#ifndef SORA_SERVER_H
#define SORA_SERVER_H

/* The running server: every configured listener, the event-loop threads,
   the worker pool, and the process's signal handling.

   server_new() binds every listener (so a port in use fails at startup,
   before anything runs); server_run() starts the loops and then waits for
   signals on the calling thread:
     SIGTERM / SIGINT  stop accepting, let every session finish its command
                       and say goodbye, close, return 0 (forced close after
                       [runtime] shutdown_timeout)
     SIGHUP            reload TLS certificates; connections stay up */

#include "../config/config.h"

struct server;

/* error_r: a message naming the server and the problem (static/thread-local). */
struct server *server_new(const struct config *cfg, const char **error_r);
int server_run(struct server *srv);
void server_free(struct server **srv);

#endif
