/* The sandbox ("pause") process of every Pod on the local node: containerd's sandbox_image.
 *
 * It holds the Pod's namespaces open and does nothing else. As PID 1 of the Pod it must reap
 * zombies (a container sharing the PID namespace may orphan children) and must exit on SIGINT
 * and SIGTERM, since PID 1 gets no default action for signals. Built static (gcc -static), so
 * the image needs no libc: shadowgate.devstack.images packs the binary alone. Modelled on the
 * program Kubernetes ships under build/pause. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int signo) {
  (void)signo;
  _exit(0);
}

static void on_child(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts("shadowgate pause 1");
    return 0;
  }
  if (getpid() != 1) {
    fprintf(stderr, "pause: warning: not PID 1, zombies of others are not reaped\n");
  }
  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) {
    pause();
  }
}
