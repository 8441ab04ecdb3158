namespace AspireCache.Node.StateMachine;

/// <summary>
/// How much the <see cref="IdempotencyTable"/> remembers. Part of the replicated state's rules: every
/// node must run with the same limits (like the member list), or replicas would forget different keys.
/// </summary>
/// <param name="Window">
/// Every record is kept at least this long in log time (the entries' leader timestamps), and
/// forgotten after it — unless <paramref name="MaxBytes"/> forces it out earlier.
/// </param>
/// <param name="MaxBytes">
/// Hard bound on the table's accounted memory (<see cref="IdempotencyTable.SizeOf"/>): beyond it
/// the oldest records are forgotten first, even inside the window.
/// </param>
public readonly record struct IdempotencyLimits(TimeSpan Window, long MaxBytes)
{
    /// <summary>
    /// 10 minutes: the longest a client of this project comes back with a key. The router retries
    /// for 5 s (<c>Router:RetryDeadline</c>) and the bench client times out after 10 s, but the
    /// verification client re-sends unknown outcomes only after its fault run (verify/jepsen.sh:
    /// 180–300 s) and the heal, i.e. minutes later. 10 minutes is also what earlier versions kept.
    /// </summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromMinutes(10);

    /// <summary>
    /// 256 MiB ≈ 1.29 million records with the router's 32-character keys (~208 bytes each): 81 s of
    /// the fastest measured write rate (15,900 keyed writes/s), and the whole window up to ~2,100 writes/s.
    /// </summary>
    public const long DefaultMaxBytes = 256L * 1024 * 1024;

    public static IdempotencyLimits Default { get; } = new(DefaultWindow, DefaultMaxBytes);

    public long WindowMs => (long)Window.TotalMilliseconds;
}
