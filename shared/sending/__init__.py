"""Rules every service that sends to people follows: when a campaign message may go out (quiet
hours, the Election Commission's 48-hour blackout), recurring slots, and provider webhook
signatures. The notifier's directives and the meetings service's calls use the same modules."""
