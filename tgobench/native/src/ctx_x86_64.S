/*
 * ctx_x86_64.S - the context switch for x86-64 (System V ABI).
 *
 *   void tgo__ctx_switch(tgo__ctx *from, tgo__ctx *to);   rdi = from, rsi = to
 *
 * A switch is an ordinary function call, so the caller has already saved
 * every caller-saved register it needs; only the callee-saved ones (rbx, rbp,
 * r12-r15) and the stack pointer must survive. They are pushed on the
 * current stack and only rsp is stored in from->sp (offset 0 of tgo__ctx,
 * checked by _Static_assert in sched.c). No signal mask, no FPU state: that
 * is what makes a switch a few nanoseconds instead of a syscall. Tasks must
 * not change MXCSR or the x87 control word (callee-saved control bits).
 *
 * Frame of a saved context, from to->sp upwards:
 *
 *   sp+0   r15
 *   sp+8   r14
 *   sp+16  r13
 *   sp+24  r12
 *   sp+32  rbx
 *   sp+40  rbp
 *   sp+48  return address (for a fresh context: the entry function)
 *   sp+56  0: the entry function's fake return address (fresh context only)
 *
 * The ABI wants rsp+8 16-byte aligned at a function's first instruction;
 * tgo__ctx_make() aligns the top to 16 and builds the frame above so that
 * entry starts with rsp = top-8.
 */
    .text
    .globl  tgo__ctx_switch
    .type   tgo__ctx_switch, @function
    .p2align 6
tgo__ctx_switch:
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)        /* from->sp */
    movq    (%rsi), %rsp        /* to->sp */
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .size   tgo__ctx_switch, .-tgo__ctx_switch

/* void tgo__ctx_make(tgo__ctx *ctx, void *stack_top, void (*entry)(void)); */
    .globl  tgo__ctx_make
    .type   tgo__ctx_make, @function
    .p2align 4
tgo__ctx_make:
    andq    $-16, %rsi          /* align the top */
    movq    $0, -8(%rsi)        /* entry's return address: none */
    movq    %rdx, -16(%rsi)     /* ret of the first switch lands in entry */
    leaq    -64(%rsi), %rax     /* six zeroed callee-saved slots below */
    movq    $0, 0(%rax)
    movq    $0, 8(%rax)
    movq    $0, 16(%rax)
    movq    $0, 24(%rax)
    movq    $0, 32(%rax)
    movq    $0, 40(%rax)
    movq    %rax, (%rdi)
    ret
    .size   tgo__ctx_make, .-tgo__ctx_make

    .section .note.GNU-stack,"",@progbits
