/*
 * Stage 2, client: who is asking.  The address is REMOTE_ADDR unless that
 * is a trusted proxy; only then is X-Forwarded-For believed (right-most
 * untrusted hop).  Everything this stage decides happens before a byte of
 * the body is read.  Later stages hang the block list and the per-address
 * pre-authentication limit here.
 */
#include "config.h"

#include <string.h>

#include "aspida.h"

static int xff_warned;

/*
 * Works out the client's address.  The parse stage calls this first, so
 * that even a request refused for a malformed URI is logged with it.
 * Returns 0, or -1 when the web server sent no usable REMOTE_ADDR.
 */
int
stage_client_address(struct req *r)
{
	const char	*ra, *xff;

	if ((ra = req_param(r, "REMOTE_ADDR")) == NULL ||
	    ipaddr_parse(ra, &r->peer) == -1) {
		log_warnx("%s: unusable REMOTE_ADDR from the web server", r->id);
		return -1;
	}
	xff = req_param(r, "HTTP_X_FORWARDED_FOR");
	(void)ipaddr_from_xff(xff, &r->peer, &conf->trusted_proxies,
	    &r->client);

	/*
	 * A proxy on this very host with no trusted_proxies configured would
	 * make every client look like loopback (API.md): say so once, and
	 * let loopback satisfy no allow list for this request.
	 */
	if (xff != NULL && ipaddr_is_loopback(&r->peer) &&
	    conf->trusted_proxies.n == 0) {
		r->xff_untrusted_loopback = 1;
		if (!xff_warned) {
			xff_warned = 1;
			log_crit("configuration: X-Forwarded-For arrives from "
			    "loopback but trusted_proxies is empty; loopback "
			    "is not trusted for allow lists on such requests");
		}
	}
	if (ipaddr_format(&r->client, r->client_ip, sizeof(r->client_ip)) == -1)
		return -1;
	return 0;
}

/*
 * Whether the client may use a route guarded by an allow list.  Loopback
 * counts only when no untrusted X-Forwarded-For came with it.
 */
int
stage_client_allowed(const struct req *r, const struct cidr_list *allow)
{
	if (r->xff_untrusted_loopback && ipaddr_is_loopback(&r->client))
		return 0;
	return cidr_list_match(allow, &r->client);
}

/*
 * Stage 2, client: decisions about the address, all before the body is
 * read.  A blocked address is refused here.
 */
enum aerr
stage_client(struct req *r)
{
	enum aerr	e;

	if ((e = blocklist_check(r)) != AERR_OK)
		return e;
	/* Admin routes do not exist for other addresses (API.md). */
	if (strncmp(r->path, "/api/v1/admin/", 14) == 0 &&
	    !stage_client_allowed(r, &conf->admin_allow_ips)) {
		event_recordf(r, "admin_hidden", SEV_WARNING,
		    "admin route asked from outside admin_allow_ips");
		return stage_defer(r, AERR_NOT_FOUND, NULL);
	}
	return AERR_OK;
}
