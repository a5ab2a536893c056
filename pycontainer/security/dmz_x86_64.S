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
 * If execve fails, it says so on stderr, as runc's init does ("pycontainer: exec
 * PATH: REASON"), and exits 126 for EACCES/EPERM/ENOEXEC (the program cannot be
 * run: not executable, a noexec mount, not a format the kernel knows, another
 * architecture's ELF), 127 otherwise (the shell's; ENOENT here, after the runtime
 * found the file, is a missing interpreter: a #! line's, or the ELF's loader, as a
 * glibc program in a musl image). Without a program it exits 127 silently (a
 * "#!/proc/self/exe" loop stops there).
 */
        .globl  _start
        .text
_start:
        mov     (%rsp), %rcx            /* argc */
        cmp     $3, %rcx
        jb      silent                  /* no program, or no argv[0] for it */
        mov     16(%rsp), %rdi          /* argv[1]: the program's path */
        lea     24(%rsp), %rsi          /* &argv[2]: its argv (NULL-terminated) */
        lea     16(%rsp,%rcx,8), %rdx   /* envp = &argv[argc + 1] */
        mov     $59, %eax               /* SYS_execve */
        syscall
        mov     %rax, %r12              /* here only if execve failed: -errno */
        mov     16(%rsp), %r13          /* the path */
        lea     head(%rip), %rsi
        mov     $head_len, %edx
        call    say                     /* "pycontainer: exec " */
        mov     %r13, %rsi
        xor     %edx, %edx
1:      cmpb    $0, (%rsi,%rdx)         /* strlen(path) */
        je      2f
        inc     %rdx
        jmp     1b
2:      call    say                     /* the path */
        mov     $126, %r14d
        lea     enoexec(%rip), %rsi
        mov     $enoexec_len, %edx
        cmp     $-8, %r12               /* ENOEXEC */
        je      tell
        lea     eacces(%rip), %rsi
        mov     $eacces_len, %edx
        cmp     $-13, %r12              /* EACCES */
        je      tell
        lea     eperm(%rip), %rsi
        mov     $eperm_len, %edx
        cmp     $-1, %r12               /* EPERM */
        je      tell
        mov     $127, %r14d
        lea     enoent(%rip), %rsi
        mov     $enoent_len, %edx
        cmp     $-2, %r12               /* ENOENT */
        je      tell
        lea     other(%rip), %rsi
        mov     $other_len, %edx
tell:   call    say
        mov     %r14d, %edi
        jmp     out
silent:
        mov     $127, %edi
out:
        mov     $231, %eax              /* SYS_exit_group */
        syscall

say:                                    /* write(2, rsi, rdx) */
        mov     $1, %eax                /* SYS_write */
        mov     $2, %edi
        syscall
        ret

head:   .ascii  "pycontainer: exec "
        .set    head_len, . - head
enoexec: .ascii ": exec format error (no #! line, or another architecture's program?)\n"
        .set    enoexec_len, . - enoexec
eacces: .ascii  ": permission denied\n"
        .set    eacces_len, . - eacces
eperm:  .ascii  ": operation not permitted\n"
        .set    eperm_len, . - eperm
enoent: .ascii  ": no such file or directory (a missing interpreter: its #! line's, or its ELF loader's?)\n"
        .set    enoent_len, . - enoent
other:  .ascii  ": cannot execute\n"
        .set    other_len, . - other
        .section .note.GNU-stack,"",@progbits
