#include "jailer/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int process_scrub(struct jerr *e)
{
    /* A closed stdin, stdout or stderr would be reused by the next open()
     * (the exec file, say) and end up as ember's: fill the gap first. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
            return jerr_errno(e, "opening /dev/null for descriptor %d", fd);
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
        if (errno != ENOSYS)
            return jerr_errno(e, "closing inherited file descriptors");
        /* Before Linux 5.9: the descriptors /proc lists. */
        DIR *d = opendir("/proc/self/fd");
        if (!d)
            return jerr_errno(e, "closing inherited file descriptors: /proc/self/fd");
        int self = dirfd(d);
        for (struct dirent *de; (de = readdir(d));) {
            int fd = atoi(de->d_name);
            if (fd > 2 && fd != self)
                close(fd);
        }
        closedir(d);
    }
    if (clearenv() != 0)
        return jerr_set(e, "clearing the environment failed");
    return 0;
}

int process_daemonize(int dev_null_fd, struct jerr *e)
{
    pid_t pid = fork();
    if (pid < 0)
        return jerr_errno(e, "--daemonize: fork");
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return jerr_errno(e, "--daemonize: setsid");
    pid = fork();
    if (pid < 0)
        return jerr_errno(e, "--daemonize: fork");
    if (pid > 0)
        _exit(0);
    for (int fd = 0; fd <= 2; fd++)
        if (dup2(dev_null_fd, fd) < 0)
            return jerr_errno(e, "--daemonize: redirecting descriptor %d to /dev/null", fd);
    close(dev_null_fd);
    return 0;
}

int process_write_pid_file(const char *exec_name, pid_t pid, struct jerr *e)
{
    char path[300], text[24];
    snprintf(path, sizeof(path), "/%s.pid", exec_name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return jerr_errno(e, "pid file %s (in the jail)", path);
    int n = snprintf(text, sizeof(text), "%d\n", (int)pid);
    if (write(fd, text, (size_t)n) != n) {
        jerr_errno(e, "writing pid file %s (in the jail)", path);
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return jerr_errno(e, "writing pid file %s (in the jail)", path);
    return 0;
}

int process_enter_pid_ns(bool new_pid_ns, const char *exec_name, struct jerr *e)
{
    if (!new_pid_ns)
        return process_write_pid_file(exec_name, getpid(), e);
    /* unshare(CLONE_NEWPID) places our next child, not us, in the new
     * namespace, as its pid 1. */
    if (unshare(CLONE_NEWPID) < 0)
        return jerr_errno(e, "--new-pid-ns: unshare(CLONE_NEWPID)");
    pid_t pid = fork();
    if (pid < 0)
        return jerr_errno(e, "--new-pid-ns: fork");
    if (pid == 0)
        return 0;
    if (process_write_pid_file(exec_name, pid, e) < 0) {
        /* ember must not run unaccounted for. */
        kill(pid, SIGKILL);
        return -1;
    }
    _exit(0);
}
