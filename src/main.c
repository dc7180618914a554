/*
 * aspida: the FastCGI responder.  One binary, three ways to run: a worker
 * on a listening socket inherited as fd 0 (spawn-fcgi with multiwatch,
 * lighttpd bin-path, Apache mod_fcgid), or its own pre-fork master with
 * -l.  It refuses root, and refuses to start with a configuration or a
 * secret that is not right, saying exactly why.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "aspida.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: aspida [-dnv] [-f file] [-l address] "
	    "[-w workers]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "debug", no_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "config", required_argument, NULL, 'f' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = NULL, *listen_addr = NULL, *errstr = NULL;
	char		*cause = NULL, *end;
	long long	 workers = 0;
	int		 ch, debug = 0, check = 0, verbose = 0;

	while ((ch = getopt_long(argc, argv, "dnvf:l:w:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'l':
			listen_addr = optarg;
			break;
		case 'w':
			workers = strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || workers < 1 ||
			    workers > 256)
				errstr = "workers must be a number from 1 to 256";
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (errstr != NULL) {
		fprintf(stderr, "aspida: %s\n", errstr);
		return 1;
	}

	log_init("aspida", debug || check || listen_addr != NULL, LOG_DAEMON);
	if (geteuid() == 0 || getuid() == 0) {
		fprintf(stderr, "aspida: refusing to run as root; run it as "
		    "its own unprivileged user\n");
		return 1;
	}
	path = conf_default_path(path);
	if ((conf = conf_load(path, &cause)) == NULL ||
	    conf_load_secrets(conf, geteuid(), &cause) == -1) {
		fprintf(stderr, "aspida: %s\n", cause ? cause : "out of memory");
		syslog(LOG_CRIT, "%s", cause ? cause : "out of memory");
		free(cause);
		conf_free(conf);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK\n", path);
		return 0;
	}
	log_setverbose(verbose || conf->log_verbose);
	log_set_file(conf->log_file);
	crypto_init();
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");

	if (listen_addr == NULL && *conf->listen != '\0' && FCGX_IsCGI())
		listen_addr = conf->listen;
	if (listen_addr != NULL)
		return master_main(listen_addr, workers ? workers : conf->workers);
	if (FCGX_IsCGI()) {
		fprintf(stderr, "aspida: standard input is not a FastCGI "
		    "socket; start it from a FastCGI spawner, or use -l\n");
		return 1;
	}
	return worker_main(FCGI_LISTENSOCK_FILENO);
}
