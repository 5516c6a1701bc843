using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvGen;

/// <summary>Register-level building blocks shared by generated kernels and the runtime's weight repacking (AVX).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Registers
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
}
