/* Finding 8 of issue 12: the files mcu-ota trusts (configuration, keys, CA
 * files, the TLS client key) are refused, with the reason and the fix, when
 * others may change them, or read a private key (util/trusted_file.h). */
#include "check.h"
#include "util/trusted_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/mcu-ota-trusted-XXXXXX";
static char err[1024];

/* A file in dir with mode (chmod'ed: the umask does not decide). */
static const char *file(const char *name, mode_t mode)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("-----BEGIN PUBLIC KEY-----\n", f);
		fclose(f);
	}
	CHECK_INT(chmod(p, mode), 0);
	return p;
}

static void private_modes_pass(void)
{
	CHECK_INT(trusted_file_check("key", file("a.pem", 0644), TRUSTED_PUBLIC, err, sizeof(err)),
	          0);
	CHECK_INT(trusted_file_check("key", file("b.pem", 0444), TRUSTED_PUBLIC, err, sizeof(err)),
	          0);
	CHECK_INT(
	    trusted_file_check("client key", file("c.key", 0600), TRUSTED_SECRET, err, sizeof(err)),
	    0);
	CHECK_INT(
	    trusted_file_check("client key", file("d.key", 0400), TRUSTED_SECRET, err, sizeof(err)),
	    0);
}

static void writable_by_others_is_refused_as_ssh_does(void)
{
	char want[512];
	const char *p = file("release.pem", 0666);
	CHECK_INT(trusted_file_check("key", p, TRUSTED_PUBLIC, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
	         "key %s is writable by group or others (mode 0666): chmod go-w it", p);
	CHECK_STR(err, want);
	p = file("group.pem", 0664);
	CHECK_INT(trusted_file_check("CA file", p, TRUSTED_PUBLIC, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "(mode 0664): chmod go-w it");
	p = file("others.pem", 0602);
	CHECK_INT(trusted_file_check("configuration", p, TRUSTED_PUBLIC, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "configuration ");
	CHECK_CONTAINS(err, "(mode 0602)");
}

static void secret_readable_by_others_is_refused(void)
{
	char want[512];
	const char *p = file("client.key", 0640);
	CHECK_INT(trusted_file_check("client key", p, TRUSTED_SECRET, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
	         "client key %s is readable by group or others (mode 0640): chmod go-rwx it", p);
	CHECK_STR(err, want);
	p = file("client2.key", 0604);
	CHECK_INT(trusted_file_check("client key", p, TRUSTED_SECRET, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "(mode 0604): chmod go-rwx it");
	p = file("client3.key", 0620); /* writable only: still not private */
	CHECK_INT(trusted_file_check("client key", p, TRUSTED_SECRET, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "is writable by group or others (mode 0620): chmod go-rwx it");
	/* the same mode is fine for what is not secret */
	p = file("client.pem", 0644);
	CHECK_INT(trusted_file_check("client certificate", p, TRUSTED_PUBLIC, err, sizeof(err)), 0);
}

static void another_owner_is_refused(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "  (not root: cannot give a file away, case skipped)\n");
		return;
	}
	char want[512];
	const char *p = file("theirs.pem", 0644);
	CHECK_INT(chown(p, 65534, 65534), 0);
	CHECK_INT(trusted_file_check("key", p, TRUSTED_PUBLIC, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "key %s is owned by uid 65534, not by root: chown root it", p);
	CHECK_STR(err, want);
}

static void ca_directory_and_its_files(void)
{
	char ca[300], cert[320];
	snprintf(ca, sizeof(ca), "%s/ca.d", dir);
	CHECK_INT(mkdir(ca, 0755), 0);
	snprintf(cert, sizeof(cert), "%s/1a2b3c4d.0", ca);
	FILE *f = fopen(cert, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK_INT(chmod(cert, 0644), 0);
	CHECK_INT(trusted_file_check("CA directory", ca, TRUSTED_PUBLIC, err, sizeof(err)), 0);
	CHECK_INT(chmod(cert, 0666), 0); /* a certificate in it anyone may replace */
	CHECK_INT(trusted_file_check("CA directory", ca, TRUSTED_PUBLIC, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "CA directory ");
	CHECK_CONTAINS(err, "/ca.d/1a2b3c4d.0 is writable by group or others (mode 0666)");
	CHECK_INT(chmod(cert, 0644), 0);
	CHECK_INT(chmod(ca, 0777), 0); /* anyone may add one */
	CHECK_INT(trusted_file_check("CA directory", ca, TRUSTED_PUBLIC, err, sizeof(err)), -EPERM);
	CHECK_CONTAINS(err, "/ca.d is writable by group or others (mode 0777): chmod go-w it");
}

static void missing_file_is_named(void)
{
	CHECK_INT(trusted_file_check("key", "/nonexistent/k.pem", TRUSTED_PUBLIC, err, sizeof(err)),
	          -ENOENT);
	CHECK_STR(err, "cannot read the key /nonexistent/k.pem: No such file or directory");
}

static void open_descriptor_is_judged(void)
{
	const char *p = file("conf", 0600);
	int fd = open(p, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_INT(trusted_file_check_fd(fd, "configuration", p, TRUSTED_PUBLIC, err, sizeof(err)),
	          0);
	CHECK_INT(fchmod(fd, 0660), 0);
	CHECK_INT(trusted_file_check_fd(fd, "configuration", p, TRUSTED_PUBLIC, err, sizeof(err)),
	          -EPERM);
	CHECK_CONTAINS(err, "is writable by group or others (mode 0660)");
	close(fd);
}

static void setup(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TEST_MAIN_WITH(setup, teardown, TEST(private_modes_pass),
               TEST(writable_by_others_is_refused_as_ssh_does),
               TEST(secret_readable_by_others_is_refused), TEST(another_owner_is_refused),
               TEST(ca_directory_and_its_files), TEST(missing_file_is_named),
               TEST(open_descriptor_is_judged))
