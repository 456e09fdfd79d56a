/* web_static.h — the web UI served by the REST listener (web_static.c):
 * plugin.c reads its config at init, loads its files at start and frees
 * them at fini; server.c offers it the GETs no route took. */
#ifndef AMBIENT_API_WEB_STATIC_H
#define AMBIENT_API_WEB_STATIC_H

#include "api.h"

/* Reads api.web_root and api.web_live_url. Init. */
int api_web_config(struct api *api, struct amb_error *err);
/* Reads the files (web_files.c). A root the config names must load; the
 * default one may be missing (no UI: logged). Start, before the server. */
int api_web_load(struct api *api, struct amb_error *err);
void api_web_free(struct api *api); /* NULL web is fine */
/* Answers r with a file of the UI when r is a GET or HEAD outside /api/
 * and the UI has one for it (its file, else index.html): 1 when it
 * replied, 0 to leave r to the caller. */
int api_web_serve(struct api_req *r);
/* GET /api/ui/config. */
void api_routes_web(struct api_router *rt);

#endif
