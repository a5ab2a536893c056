/*
 * pycontainer-dmz (x86-64): execve(argv[1], &argv[2], envp), nothing else.
 *
 * The container's init (and exec's process) execs this from a sealed memfd
 * just before the program, so that while the program's execve runs,
 * /proc/self/exe is this sealed copy, not the host's Python interpreter
 * (CVE-2019-5736: an image whose /bin/sh is "#!/proc/self/exe"). runc
 * 1.2.0-rc shipped the same idea as runc-dmz (libcontainer/dmz).
 *
 * Stack at _start (System V x86-64 ABI): argc, argv[0..argc-1], NULL, envp...
 * Exit status if execve fails: 126 for EACCES/EPERM, 127 otherwise (the shell's).
 */
        .globl  _start
        .text
_start:
        mov     (%rsp), %rcx            /* argc */
        cmp     $3, %rcx
        jb      notfound                /* no program, or no argv[0] for it: also stops a "#!/proc/self/exe" loop */
        mov     16(%rsp), %rdi          /* argv[1]: the program's path */
        lea     24(%rsp), %rsi          /* &argv[2]: its argv (NULL-terminated) */
        lea     16(%rsp,%rcx,8), %rdx   /* envp = &argv[argc + 1] */
        mov     $59, %eax               /* SYS_execve */
        syscall
        mov     $126, %edi              /* here only if execve failed: rax = -errno */
        cmp     $-13, %rax              /* EACCES */
        je      out
        cmp     $-1, %rax               /* EPERM */
        je      out
notfound:
        mov     $127, %edi
out:
        mov     $231, %eax              /* SYS_exit_group */
        syscall
        .section .note.GNU-stack,"",@progbits
