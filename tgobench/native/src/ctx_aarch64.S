/*
 * ctx_aarch64.S - the context switch for AArch64 (AAPCS64).
 *
 *   void tgo__ctx_switch(tgo__ctx *from, tgo__ctx *to);   x0 = from, x1 = to
 *
 * Callee-saved: x19-x28, the frame pointer x29, the link register x30 and
 * the low 64 bits of v8-v15 (d8-d15). They are stored in a 160-byte frame
 * on the current stack (sp stays 16-byte aligned, as AAPCS64 requires), and
 * sp goes to from->sp (offset 0 of tgo__ctx).
 *
 *   sp+0   x19 x20    sp+16  x21 x22    sp+32  x23 x24    sp+48  x25 x26
 *   sp+64  x27 x28    sp+80  x29 x30    sp+96  d8 d9      sp+112 d10 d11
 *   sp+128 d12 d13    sp+144 d14 d15
 *
 * A fresh context (tgo__ctx_make) has x30 = entry and zeros elsewhere, so
 * the first switch "returns" into entry with sp = the aligned top.
 */
    .text
    .globl  tgo__ctx_switch
    .type   tgo__ctx_switch, %function
    .p2align 6
tgo__ctx_switch:
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x2, sp
    str     x2, [x0]
    ldr     x2, [x1]
    mov     sp, x2
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    ret
    .size   tgo__ctx_switch, .-tgo__ctx_switch

/* void tgo__ctx_make(tgo__ctx *ctx, void *stack_top, void (*entry)(void)); */
    .globl  tgo__ctx_make
    .type   tgo__ctx_make, %function
    .p2align 4
tgo__ctx_make:
    and     x1, x1, #~15
    sub     x1, x1, #160
    mov     x3, #0
    mov     x4, #0
1:  str     x3, [x1, x4]
    add     x4, x4, #8
    cmp     x4, #160
    b.lt    1b
    str     x2, [x1, #88]       /* x30: the first switch returns to entry */
    str     x1, [x0]
    ret
    .size   tgo__ctx_make, .-tgo__ctx_make

    .section .note.GNU-stack,"",@progbits
