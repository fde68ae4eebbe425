#define _GNU_SOURCE
#include "CFOAPSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

int cfoap_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                const int *inherited_fds, int inherited_count, int new_process_group) {
    if (inherited_count < 0 || inherited_count > 1000) {
        return EINVAL;
    }
    int first_free = 3 + inherited_count;
    // Park every source fd above the target range first: a source that already sits at 3 + j would otherwise be
    // overwritten by an earlier dup2 before its own turn. The parked copies are close-on-exec and closed below.
    int parked[1000];
    int result = 0;
    int parked_count = 0;
    for (; parked_count < inherited_count; parked_count++) {
        parked[parked_count] = fcntl(inherited_fds[parked_count], F_DUPFD_CLOEXEC, first_free);
        if (parked[parked_count] < 0) {
            result = errno;
            goto close_parked;
        }
    }

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    if ((result = posix_spawn_file_actions_init(&actions)) != 0) {
        goto close_parked;
    }
    if ((result = posix_spawnattr_init(&attributes)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        goto close_parked;
    }
    result = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    for (int i = 0; result == 0 && i < inherited_count; i++) {
        result = posix_spawn_file_actions_adddup2(&actions, parked[i], 3 + i);
    }
    if (result == 0) {
        result = posix_spawn_file_actions_addclosefrom_np(&actions, first_free);
    }

    sigset_t empty_mask;
    sigset_t all_signals;
    sigemptyset(&empty_mask);
    sigfillset(&all_signals);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_process_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
    }
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &empty_mask);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &all_signals);
    if (result == 0) result = posix_spawnattr_setpgroup(&attributes, 0);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, flags);
    if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);

    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
close_parked:
    for (int i = 0; i < parked_count; i++) {
        close(parked[i]);
    }
    return result;
}

int cfoap_signalfd_open(const int *signals, int count) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int i = 0; i < count; i++) {
        sigaddset(&mask, signals[i]);
    }
    int error = pthread_sigmask(SIG_BLOCK, &mask, NULL);
    if (error != 0) {
        errno = error;
        return -1;
    }
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cfoap_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t got = read(fd, &info, sizeof(info));
        if (got == (ssize_t)sizeof(info)) {
            return (int)info.ssi_signo;
        }
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0 && errno == EAGAIN) {
            return 0;
        }
        if (got >= 0) {
            errno = EIO;
        }
        return -1;
    }
}

int cfoap_memfd_with_bytes(const char *name, const void *bytes, size_t count) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        return -1;
    }
    size_t written = 0;
    while (written < count) {
        ssize_t n = write(fd, (const char *)bytes + written, count - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            close(fd);
            errno = saved;
            return -1;
        }
        written += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
        lseek(fd, 0, SEEK_SET) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
