using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGen;

/// <summary>Register-level building blocks shared by generated kernels and the runtime's weight repacking (AVX).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static unsafe class Registers
{
    /// <summary>
    /// <c>r[i]</c> = row i of an 8×8 tile; returns its columns in <c>r</c> (<c>r[j][i]</c> = old <c>r[i][j]</c>):
    /// 8 unpacks, 8 shuffles, 8 lane swaps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8x8(ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> s0 = Avx.Shuffle(t0, t2, 0x44), s1 = Avx.Shuffle(t0, t2, 0xEE), s2 = Avx.Shuffle(t1, t3, 0x44), s3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> s4 = Avx.Shuffle(t4, t6, 0x44), s5 = Avx.Shuffle(t4, t6, 0xEE), s6 = Avx.Shuffle(t5, t7, 0x44), s7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(s0, s4, 0x20); r1 = Avx.Permute2x128(s1, s5, 0x20); r2 = Avx.Permute2x128(s2, s6, 0x20); r3 = Avx.Permute2x128(s3, s7, 0x20);
        r4 = Avx.Permute2x128(s0, s4, 0x31); r5 = Avx.Permute2x128(s1, s5, 0x31); r6 = Avx.Permute2x128(s2, s6, 0x31); r7 = Avx.Permute2x128(s3, s7, 0x31);
    }

    /// <summary>
    /// The sum of each vector's 8 lanes, as one vector: <c>[Σa0, Σa1, …, Σa7]</c>. Six horizontal adds, two lane swaps
    /// and an add, for kernels that keep a sum spread over the lanes until the end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LaneSums(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7)
    {
        // Each 128-bit half: [a0 a1 a2 a3] sums of its four lanes in q0, [a4 … a7] in q1; the halves then add up.
        Vector256<float> q0 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        Vector256<float> q1 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Add(Avx.Permute2x128(q0, q1, 0x20), Avx.Permute2x128(q0, q1, 0x31));
    }

    /// <summary>The 8×8 block of rows <c>src + i·srcStride</c> stored transposed as rows <c>dst + j·dstStride</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Transpose8x8(float* src, nint srcStride, float* dst, nint dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride);
        Vector256<float> r2 = Avx.LoadVector256(src + 2 * srcStride), r3 = Avx.LoadVector256(src + 3 * srcStride);
        Vector256<float> r4 = Avx.LoadVector256(src + 4 * srcStride), r5 = Avx.LoadVector256(src + 5 * srcStride);
        Vector256<float> r6 = Avx.LoadVector256(src + 6 * srcStride), r7 = Avx.LoadVector256(src + 7 * srcStride);
        Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Avx.Store(dst, r0);
        Avx.Store(dst + dstStride, r1);
        Avx.Store(dst + 2 * dstStride, r2);
        Avx.Store(dst + 3 * dstStride, r3);
        Avx.Store(dst + 4 * dstStride, r4);
        Avx.Store(dst + 5 * dstStride, r5);
        Avx.Store(dst + 6 * dstStride, r6);
        Avx.Store(dst + 7 * dstStride, r7);
    }

    /// <summary>
    /// 8 pixels × 8 channels: NCHW rows (channel c at <c>src + c·stride</c>, channels ≥ <paramref name="count"/> read
    /// as zero) → 8 NCHW8c pixel vectors at <paramref name="dst"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToBlocked8(float* src, nint stride, int count, float* dst)
    {
        Vector256<float> z = Vector256<float>.Zero;
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = count > 1 ? Avx.LoadVector256(src + stride) : z, r2 = count > 2 ? Avx.LoadVector256(src + 2 * stride) : z, r3 = count > 3 ? Avx.LoadVector256(src + 3 * stride) : z;
        Vector256<float> r4 = count > 4 ? Avx.LoadVector256(src + 4 * stride) : z, r5 = count > 5 ? Avx.LoadVector256(src + 5 * stride) : z, r6 = count > 6 ? Avx.LoadVector256(src + 6 * stride) : z, r7 = count > 7 ? Avx.LoadVector256(src + 7 * stride) : z;
        Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Avx.Store(dst, r0); Avx.Store(dst + 8, r1); Avx.Store(dst + 16, r2); Avx.Store(dst + 24, r3);
        Avx.Store(dst + 32, r4); Avx.Store(dst + 40, r5); Avx.Store(dst + 48, r6); Avx.Store(dst + 56, r7);
    }

    /// <summary>
    /// 8 NCHW8c pixel vectors at <paramref name="src"/> → NCHW rows of 8 pixels (channel c at <c>dst + c·stride</c>),
    /// the first <paramref name="count"/> channels only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void FromBlocked8(float* src, float* dst, nint stride, int count)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + 8), r2 = Avx.LoadVector256(src + 16), r3 = Avx.LoadVector256(src + 24);
        Vector256<float> r4 = Avx.LoadVector256(src + 32), r5 = Avx.LoadVector256(src + 40), r6 = Avx.LoadVector256(src + 48), r7 = Avx.LoadVector256(src + 56);
        Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
        Avx.Store(dst, r0);
        if (count > 1) Avx.Store(dst + stride, r1);
        if (count > 2) Avx.Store(dst + 2 * stride, r2);
        if (count > 3) Avx.Store(dst + 3 * stride, r3);
        if (count > 4) Avx.Store(dst + 4 * stride, r4);
        if (count > 5) Avx.Store(dst + 5 * stride, r5);
        if (count > 6) Avx.Store(dst + 6 * stride, r6);
        if (count > 7) Avx.Store(dst + 7 * stride, r7);
    }

    /// <summary>
    /// 8 values at <paramref name="even"/> and 8 at <paramref name="odd"/> → 16 at <paramref name="dst"/>, alternating
    /// (even[0], odd[0], even[1], …): unpack within 128-bit lanes, then swap halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Interleave8(float* even, float* odd, float* dst)
    {
        Vector256<float> a = Avx.LoadVector256(even), b = Avx.LoadVector256(odd);
        Vector256<float> lo = Avx.UnpackLow(a, b), hi = Avx.UnpackHigh(a, b); // a0 b0 a1 b1 | a4 b4 a5 b5, a2 b2 a3 b3 | a6 …
        Avx.Store(dst, Avx.Permute2x128(lo, hi, 0x20));
        Avx.Store(dst + 8, Avx.Permute2x128(lo, hi, 0x31));
    }
}
