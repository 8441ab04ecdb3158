using Microsoft.Extensions.Options;

namespace AspireCache.Console.Sessions;

/// <summary>Removes expired sessions from the table now and then (a lookup of an expired one removes it too).</summary>
internal sealed class SessionSweeper(SessionStore sessions, IOptions<ConsoleSessionOptions> options, TimeProvider clock) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                sessions.Sweep();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
