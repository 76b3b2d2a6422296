/*
 * Secrets never leave the process, end to end, with the real program
 * (TT_BINARY) against the suite's broker:
 *
 * - secrets_stay_secret: `twotime stream` runs with sasl.username,
 *   sasl.password and ssl.key.password (random values) passed through
 *   kafka.properties, log_level debug and librdkafka's own debug output
 *   (debug=conf,security,broker,generic), processes events and stops.
 *   Neither password appears in its log (stderr), in the metrics endpoint's
 *   page, or in `twotime config print`, which shows <redacted>.  The
 *   broker is PLAINTEXT, so the SASL settings are accepted and unused: what
 *   is tested is that they pass through to librdkafka without leaking.
 * - metrics_loopback: with the default metrics.bind, the endpoint listens
 *   on 127.0.0.1 only (/proc/net/tcp), and `config print` says so.
 *
 * Needs TT_TEST_BROKERS (tt_itest.h) and TT_BINARY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "tests/integration/test_stream_common.h"

#define N 600
#define USERS 100
#define METRICS_PORT 19697

static struct tt_event evs[N];

/* Whether the file at path contains needle (anywhere, lines of any
 * length). */
static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    size_t nl = strlen(needle), cap = 1 << 22, len;
    char *buf = malloc(cap + 1);
    bool found;

    assert_non_null(f);
    assert_non_null(buf);
    len = fread(buf, 1, cap, f);
    fclose(f);
    buf[len] = '\0';
    found = len >= nl && memmem(buf, len, needle, nl) != NULL;
    free(buf);
    return found;
}

/* GET /metrics on 127.0.0.1:port into buf; 0 when nothing answers. */
static size_t scrape(int port, char *buf, size_t cap)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    static const char req[] =
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t got = 0;
    ssize_t n;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return 0;
    }
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    return got;
}

/* The local addresses (host order) listening on TCP `port`, from
 * /proc/net/tcp; returns how many, up to cap. */
static int listeners(int port, uint32_t *addr, int cap)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        unsigned a, p, st;

        if (sscanf(line, " %*d: %8x:%4x %*8x:%*4x %2x", &a, &p, &st) == 3 &&
            (int)p == port && st == 0x0A /* LISTEN */ && n < cap)
            addr[n++] = ntohl(a);
    }
    fclose(f);
    return n;
}

/* Sockets listening on TCP `port` over IPv6 (/proc/net/tcp6). */
static int listeners6(int port)
{
    FILE *f = fopen("/proc/net/tcp6", "r");
    char line[512];
    int n = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned p, st;

        if (sscanf(line, " %*d: %*32[0-9A-Fa-f]:%4x %*32[0-9A-Fa-f]:%*4x %2x",
                   &p, &st) == 2 &&
            (int)p == port && st == 0x0A)
            n++;
    }
    fclose(f);
    return n;
}

/* Runs `twotime <args>` with its stdout and stderr into out_path; returns
 * the exit status. */
static int run_cli(char *const *argv, const char *out_path)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(out_path, "w", stdout) ||
            dup2(fileno(stdout), 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return sit_wait(pid);
}

static void secrets_stay_secret(void **st)
{
    struct sit t;
    struct tt_rng rng;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256], state[256], log_path[256];
    char inst[64];
    char pw[64], kpw[64], port_s[16], out_path[256];
    static char page[1 << 16];
    uint64_t t0;
    size_t got = 0;
    pid_t pid;
    int rc;

    (void)st;
    tt_rng_seed(&rng, tt_time_mono_ns(), 3);
    snprintf(pw, sizeof(pw), "pw-%016llx",
             (unsigned long long)tt_rng_next(&rng));
    snprintf(kpw, sizeof(kpw), "kpw-%016llx",
             (unsigned long long)tt_rng_next(&rng));
    snprintf(port_s, sizeof(port_s), "%d", METRICS_PORT);
    sit_init(&t, "fsec", true);
    sit_set(&t, "kafka.properties.sasl.mechanism", "PLAIN");
    sit_set(&t, "kafka.properties.sasl.username", "twotime-user");
    sit_set(&t, "kafka.properties.sasl.password", pw);
    sit_set(&t, "kafka.properties.ssl.key.password", kpw);
    sit_set(&t, "kafka.properties.debug", "conf,security,broker,generic");
    sit_set(&t, "log_level", "debug");
    sit_set(&t, "metrics.port", port_s);
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_events(evs, N, USERS, 51);
    tt_itest_produce(&t.conf.kafka, t.in, evs, N);
    sit_state_path(&t, "s", state, sizeof(state));
    snprintf(log_path, sizeof(log_path), "%s/s.log", t.dir);
    tt_itest_instance(inst, sizeof(inst), "fsec");
    pid = sit_spawn(&t, model_path, inst, state, log_path);
    if (sit_wait_committed(&t, N, 120) < N) {
        kill(pid, SIGKILL);
        sit_wait(pid);
        sit_show_log(log_path, 40);
        fail_msg("the stream did not commit the input");
    }
    t0 = tt_time_mono_ns();
    while ((got = scrape(METRICS_PORT, page, sizeof(page))) == 0 &&
           tt_time_secs(t0, tt_time_mono_ns()) < 10)
        usleep(100000);
    kill(pid, SIGTERM);
    if ((rc = sit_wait(pid)) != 0) {
        sit_show_log(log_path, 40);
        fail_msg("exit status %d after SIGTERM", rc);
    }
    /* The page is the real one, and the log the verbose one. */
    assert_true(got > 0);
    assert_non_null(strstr(page, "twotime_"));
    assert_true(file_has(log_path, "sasl.username") ||
                file_has(log_path, "twotime-user") ||
                file_has(log_path, "SASL"));
    if (file_has(log_path, pw) || file_has(log_path, kpw))
        fail_msg("a password is in the stream's log %s", log_path);
    assert_null(strstr(page, pw));
    assert_null(strstr(page, kpw));

    /* config print: the effective configuration with the same --sets */
    {
        char *argv[2 * SIT_SETS_MAX + 4];
        int argc = 0;

        argv[argc++] = getenv("TT_BINARY");
        argv[argc++] = (char *)"config";
        argv[argc++] = (char *)"print";
        for (int i = 0; i < t.n_sets; i++) {
            argv[argc++] = (char *)"--set";
            argv[argc++] = t.sets[i];
        }
        argv[argc] = NULL;
        snprintf(out_path, sizeof(out_path), "%s/print.txt", t.dir);
        assert_int_equal(run_cli(argv, out_path), 0);
        assert_true(file_has(out_path, "\"sasl.password\", \"<redacted>\""));
        assert_true(file_has(out_path, "twotime-user"));
        assert_false(file_has(out_path, pw));
        assert_false(file_has(out_path, kpw));
    }
    tt_model_destroy(m);
    sit_release(&t);
}

static void metrics_loopback(void **st)
{
    struct sit t;
    tt_model_t *m = sit_model(1);
    char model_path[256], errstr[256], state[256], log_path[256];
    char inst[64];
    char port_s[16], out_path[256];
    char *argv[] = {getenv("TT_BINARY"), (char *)"config", (char *)"print",
                    NULL};
    uint32_t addr[8];
    uint64_t t0;
    int n = 0, n6;
    pid_t pid;

    (void)st;
    snprintf(out_path, sizeof(out_path), "/tmp/tt-fault-print-%d.txt",
             (int)getpid());
    assert_int_equal(run_cli(argv, out_path), 0);
    assert_true(file_has(out_path, "bind = \"127.0.0.1\""));
    unlink(out_path);

    sit_init(&t, "fsec2", true);
    snprintf(port_s, sizeof(port_s), "%d", METRICS_PORT);
    /* metrics.bind left at its default */
    sit_set(&t, "metrics.port", port_s);
    snprintf(model_path, sizeof(model_path), "%s/model.bin", t.dir);
    assert_int_equal(tt_model_save(m, model_path, errstr, sizeof(errstr)),
                     TT_ERR_OK);
    sit_state_path(&t, "s", state, sizeof(state));
    snprintf(log_path, sizeof(log_path), "%s/s.log", t.dir);
    tt_itest_instance(inst, sizeof(inst), "fsec");
    pid = sit_spawn(&t, model_path, inst, state, log_path);
    t0 = tt_time_mono_ns();
    while ((n = listeners(METRICS_PORT, addr, 8)) == 0 &&
           tt_time_secs(t0, tt_time_mono_ns()) < 20)
        usleep(100000);
    n6 = listeners6(METRICS_PORT);
    kill(pid, SIGTERM);
    assert_int_equal(sit_wait(pid), 0);
    assert_int_equal(n6, 0);
    if (n == 0) {
        sit_show_log(log_path, 30);
        fail_msg("nothing listened on port %d", METRICS_PORT);
    }
    for (int i = 0; i < n; i++)
        if (addr[i] != INADDR_LOOPBACK)
            fail_msg("metrics listen on %08x, not 127.0.0.1", addr[i]);
    tt_model_destroy(m);
    sit_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secrets_stay_secret),
        cmocka_unit_test(metrics_loopback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
