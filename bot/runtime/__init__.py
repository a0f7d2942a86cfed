"""The Discord side: the discord.py client, media download and the one module that acts."""
