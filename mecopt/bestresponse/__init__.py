"""bestresponse"""
