#ifndef CFOAPSPAWN_H
#define CFOAPSPAWN_H

#include <sys/types.h>

/// Spawns `path` with `argv`/`envp` so that the child sees exactly: stdin = /dev/null, stdout/stderr inherited,
/// `inherited_fds[i]` at fd 3 + i, and no other descriptor (closefrom(3 + count) in the child); signal mask
/// emptied and every disposition reset to default. With `new_process_group` the child leads its own process group,
/// so a terminal's Ctrl-C reaches only the master, which then drains the workers itself.
/// Returns 0 and stores the pid, or an errno value.
int cfoap_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                const int *inherited_fds, int inherited_count, int new_process_group);

/// Blocks `signals` for the calling thread (and every thread it creates later) and returns a non-blocking,
/// close-on-exec signalfd for them, or -1 with errno set.
int cfoap_signalfd_open(const int *signals, int count);

/// Reads one pending signal from a signalfd: returns its number, 0 when none is pending, -1 on error (errno set).
int cfoap_signalfd_read(int fd);

/// Creates a close-on-exec memfd holding `bytes`, sealed against every later change, positioned at offset 0.
/// Returns the fd, or -1 with errno set.
int cfoap_memfd_with_bytes(const char *name, const void *bytes, size_t count);

#endif
