"""One repository per aggregate; batch-oriented, each method one transaction."""
