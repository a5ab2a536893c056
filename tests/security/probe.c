/*
 * probe: the system calls busybox cannot make, for tests/security (crun's
 * tests/init.c and youki's runtimetest play the same part). Built static by
 * the `probe` fixture and copied into the test's rootfs.
 *
 *   probe CALL [ARG]   prints "CALL=<errno>" (0: the call succeeded)
 *   probe euid         prints the effective uid
 *   probe sealwrite P  writes one byte to P only if P opens as a memfd
 *   probe tiocsti      ioctl(0, TIOCSTI, "#")
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int report(const char *name, long rc)
{
	printf("%s=%d\n", name, rc < 0 ? errno : 0);
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";
	const char *a = argc > 2 ? argv[2] : "/tmp/probe";
	if (!strcmp(c, "euid")) {
		printf("%d\n", (int) geteuid());
		return 0;
	}
	if (!strcmp(c, "unshare"))
		return report(c, unshare(CLONE_NEWUSER));
	if (!strcmp(c, "mount"))
		return report(c, mount("x", a, "tmpfs", 0, NULL));
	if (!strcmp(c, "keyctl"))      /* KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING */
		return report(c, syscall(SYS_keyctl, 0, -3, 0));
	if (!strcmp(c, "clone3"))      /* a NULL/0 clone_args: EINVAL if the call is allowed */
		return report(c, syscall(435, NULL, 0));
	if (!strcmp(c, "vsock"))       /* AF_VSOCK */
		return report(c, socket(40, SOCK_STREAM, 0));
	if (!strcmp(c, "mkdir"))
		return report(c, mkdir(a, 0755));
	if (!strcmp(c, "openrw"))
		return report(c, open(a, O_RDWR));
	if (!strcmp(c, "openr"))
		return report(c, open(a, O_RDONLY));
	if (!strcmp(c, "mknod_sda"))   /* block 8:0 */
		return report(c, mknod(a, S_IFBLK | 0600, makedev(8, 0)));
	if (!strcmp(c, "ptrace"))      /* PTRACE_ATTACH to pid ARG */
		return report(c, syscall(SYS_ptrace, 16, atoi(a), 0, 0));
	if (!strcmp(c, "tiocsti")) {   /* push a character into the input of the tty on fd 0 */
		char ch = '#';
		return report(c, ioctl(0, TIOCSTI, &ch));
	}
	if (!strcmp(c, "sealwrite")) { /* write 1 byte to ARG only if it is a memfd (never a file) */
		char l[256] = "";
		int fd = open(a, O_WRONLY);
		if (fd < 0)
			return report(c, -1);
		snprintf(l, sizeof l, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(l, l, sizeof l - 1);
		if (n < 0 || strncmp(l, "/memfd:", 7)) {
			printf("%s=-1\n", c);
			return 0;
		}
		return report(c, pwrite(fd, "x", 1, 0));
	}
	fprintf(stderr, "probe: unknown call %s\n", c);
	return 2;
}
